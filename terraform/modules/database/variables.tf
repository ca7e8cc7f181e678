variable "name" {
  description = "Instance identifier and name prefix."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Data subnets (two AZs) for the instance and its standby."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (API tasks, SFU nodes)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL version (major or major.minor); pg_dump for backups must be this major or newer."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage_gb" {
  description = "Initial storage."
  type        = number
  default     = 50
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 500
}

variable "multi_az" {
  description = "A synchronous standby in the second AZ (keep true in production)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Automated backups and point-in-time recovery window (1-35 days)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off deliberately before destroying an environment)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Key for storage, Performance Insights and the URL secrets."
  type        = string
}

variable "owner_password" {
  description = "The accord_owner (master) password."
  type        = string
  sensitive   = true
}

variable "app_password" {
  description = "The accord_app password (set after the first migration with ALTER ROLE)."
  type        = string
  sensitive   = true
}
