variable "name" {
  description = "Bucket name prefix (globally unique): <name>-vault and <name>-access-logs."
  type        = string
}

variable "kms_key_arn" {
  description = "Key for the vault bucket's SSE-KMS."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted document version is kept (undo window for mistakes and for ransomware)."
  type        = number
  default     = 30
}

variable "access_log_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 365
}
