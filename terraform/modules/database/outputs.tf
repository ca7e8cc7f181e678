output "address" {
  description = "The instance's host name."
  value       = aws_db_instance.this.address
}

output "instance_id" {
  description = "The instance identifier (alarms)."
  value       = aws_db_instance.this.identifier
}

output "url_secret_arn" {
  description = "Secret holding the app role's URL (ACCORD__DATABASE__URL)."
  value       = aws_secretsmanager_secret.url["database-url"].arn
}

output "admin_url_secret_arn" {
  description = "Secret holding the owner's URL (ACCORD__DATABASE__ADMIN_URL), for migrations only."
  value       = aws_secretsmanager_secret.url["database-admin-url"].arn
}
