output "vault_bucket" {
  description = "The vault bucket's name."
  value       = aws_s3_bucket.vault.id
}

output "vault_bucket_arn" {
  description = "The vault bucket's ARN."
  value       = aws_s3_bucket.vault.arn
}

output "logs_bucket" {
  description = "The access-log bucket's name (the load balancer logs under alb/)."
  value       = aws_s3_bucket.logs.id
}
