output "arns" {
  description = "Secret ARNs by name: db-owner-password, db-app-password, redis-auth-token, turn-secret, join-keys-toml."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "db_owner_password" {
  description = "The database owner's password (for the database module)."
  value       = random_password.db_owner.result
  sensitive   = true
}

output "db_app_password" {
  description = "The accord_app role's password (for the database URL secret)."
  value       = random_password.db_app.result
  sensitive   = true
}

output "redis_auth_token" {
  description = "Redis's AUTH token (for the cache module)."
  value       = random_password.redis.result
  sensitive   = true
}
