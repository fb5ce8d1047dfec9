"""The front of every deployment: nginx on 127.0.0.1, its binary and its configuration."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from assetbook.errors import AssetbookError

# nginx keeps idle connections to the server for the next request. Whichever end closes an
# idle one, it must be nginx: a request nginx sent on a connection the server was closing got
# a 502 (uvicorn, under BentoML, closes them after 5 s; seen in CI exactly 5 s after a request).
FRONT_IDLE_S = 30  # nginx's upstream keepalive_timeout


class NginxMissing(AssetbookError):
    """No nginx to put in front of the servers."""


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise NginxMissing("nginx is not installed: `apt-get install nginx-light` "
                           "(the Makefile's install step does it when run as root)")
    return nginx


def nginx_config(prefix: Path, front_port: int, upstream_port: int) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_max_body_size 1m;
  client_body_buffer_size 1m;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream bento {{
    server 127.0.0.1:{upstream_port};
    keepalive 16;
    keepalive_timeout {FRONT_IDLE_S}s;
  }}
  server {{
    listen 127.0.0.1:{front_port};
    error_page 413 @too_large;
    location @too_large {{
      default_type application/json;
      return 413 '{{"error": "request body larger than 1 MiB"}}';
    }}
    location / {{
      proxy_pass http://bento;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 60s;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""
