output "primary_endpoint" {
  description = "Host name of the primary (connect with rediss://)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "replication_group_id" {
  description = "The replication group (alarms)."
  value       = aws_elasticache_replication_group.this.id
}

output "url_secret_arn" {
  description = "Secret: the rediss:// URL with the AUTH token (ACCORD__REDIS__URL)."
  value       = aws_secretsmanager_secret.url.arn
}
