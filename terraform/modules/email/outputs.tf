output "dns_records" {
  description = "DKIM and MAIL FROM records to publish (created already when route53_zone_id was given)."
  value       = values(local.dns_records)
}

output "smtp_secret_arn" {
  description = "Secret holding the SMTP credentials as JSON {username, password}."
  value       = aws_secretsmanager_secret.smtp.arn
}
