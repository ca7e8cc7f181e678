variable "name" {
  description = "Name prefix (log groups are /accord/<name>/<component>)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key for the log groups and the alarm topic."
  type        = string
}

variable "retention_days" {
  description = "Days logs are kept (a CloudWatch retention value, at least 365 for audits)."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "Addresses subscribed to alarms (each confirms by mail)."
  type        = list(string)
  default     = []
}
