variable "name" {
  description = "Prefix of the secrets' names (<name>/<secret>)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secrets."
  type        = string
}

variable "join_key_ids" {
  description = "Key ids of the join-token signing keys, newest first (e.g. [\"2026-12\"]). Prepend an id to rotate; drop the old one two minutes after the nodes restarted."
  type        = list(string)
  validation {
    condition     = length(var.join_key_ids) > 0 && alltrue([for k in var.join_key_ids : can(regex("^[A-Za-z0-9._-]{1,64}$", k))])
    error_message = "At least one key id, each 1-64 of A-Z a-z 0-9 . _ -."
  }
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored (7-30)."
  type        = number
  default     = 30
}
