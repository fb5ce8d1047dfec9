"""The smallest service a deploy accepts: it answers the probe (POST /answer) with its model
version, or, given a cause, fails with it as a served model whose inputs do not match does."""

ECHO = """import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def answer(self, ping: int = 0) -> dict:
        return {"model_version": "2"}
"""
BROKEN = ECHO.replace('return {"model_version": "2"}',
                      'raise KeyError("[\'area_growth\'] not in index")')
