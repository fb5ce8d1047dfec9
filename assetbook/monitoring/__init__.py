"""What happens after deployment: alerts to a webhook."""
