variable "name" {
  description = "Prefix for the keys' aliases and descriptions."
  type        = string
}

variable "rotation_period_days" {
  description = "Days between automatic rotations of the keys' backing material (90 to 2560)."
  type        = number
  default     = 365
  validation {
    condition     = var.rotation_period_days >= 90 && var.rotation_period_days <= 2560
    error_message = "KMS rotates every 90 to 2560 days."
  }
}
