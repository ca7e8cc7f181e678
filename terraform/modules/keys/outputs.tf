output "platform_key_arn" {
  description = "The key for data at rest."
  value       = aws_kms_key.platform.arn
}

output "vault_key_arn" {
  description = "The document vault's key-encryption key."
  value       = aws_kms_key.vault.arn
}
