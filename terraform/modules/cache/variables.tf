variable "name" {
  description = "Replication group id and name prefix (at most 40 characters)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Data subnets (two AZs)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 6379 (API tasks, SFU nodes)."
  type        = list(string)
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "snapshot_retention_days" {
  description = "Daily snapshots kept (spent join-token ids only matter for two minutes; rate limits not at all)."
  type        = number
  default     = 1
}

variable "kms_key_arn" {
  description = "Key for encryption at rest."
  type        = string
}

variable "auth_token" {
  description = "The Redis AUTH token."
  type        = string
  sensitive   = true
}
