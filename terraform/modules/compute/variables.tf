variable "name" {
  description = "Name prefix (cluster, load balancer, repository; at most 32 characters for the load balancer)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "vpc_cidr_block" {
  description = "The VPC's range (the tasks reach Postgres and Redis inside it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the load balancer."
  type        = list(string)
}

variable "app_subnet_ids" {
  description = "Private subnets for the API tasks."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the public host name (same region)."
  type        = string
}

variable "public_url" {
  description = "The URL people reach Accord at, e.g. https://mediation.example.org/ (links in mail start with it)."
  type        = string
  validation {
    condition     = can(regex("^https://[^/]+/$", var.public_url))
    error_message = "An https:// URL ending in a single slash."
  }
}

variable "image" {
  description = "The Accord image, by immutable tag or digest (<repository_url>:<tag>)."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64, matching the image."
  type        = string
  default     = "X86_64"
}

variable "api_cpu" {
  description = "Fargate CPU units per API task."
  type        = number
  default     = 512
}

variable "api_memory" {
  description = "Fargate memory (MiB) per API task."
  type        = number
  default     = 1024
}

variable "api_desired_count" {
  description = "API tasks at least (spread over both AZs)."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "API tasks at most (CPU target tracking scales between the two)."
  type        = number
  default     = 6
}

variable "log_filter" {
  description = "ACCORD__LOG__FILTER for the API."
  type        = string
  default     = "info"
}

variable "mail_from" {
  description = "Sender of Accord's mail (an address of the SES identity), e.g. Accord <mediation@example.org>."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "Bucket for the load balancer's access logs (prefix alb/)."
  type        = string
}

variable "kms_key_arn" {
  description = "The platform key (secrets, repository, WAF logs, vault bucket SSE)."
  type        = string
}

variable "vault_key_arn" {
  description = "The document vault's key-encryption key."
  type        = string
}

variable "vault_bucket_arn" {
  description = "The document vault's bucket."
  type        = string
}

variable "database_url_secret_arn" {
  description = "Secret: the app role's database URL."
  type        = string
}

variable "database_admin_url_secret_arn" {
  description = "Secret: the owner's database URL (migration task only)."
  type        = string
}

variable "join_keys_secret_arn" {
  description = "Secret: the join-token keys as a TOML fragment."
  type        = string
}

variable "redis_url_secret_arn" {
  description = "Secret: the Redis URL (from the cache module), where the API places sessions on SFU nodes."
  type        = string
}

variable "smtp_secret_arn" {
  description = "Secret: SES SMTP credentials as JSON {username, password}."
  type        = string
}

variable "api_log_group_name" {
  description = "Log group for the API."
  type        = string
}

variable "api_log_group_arn" {
  description = "Its ARN."
  type        = string
}

variable "ops_log_group_name" {
  description = "Log group for one-off tasks (migrations)."
  type        = string
}

variable "ops_log_group_arn" {
  description = "Its ARN."
  type        = string
}

variable "log_retention_days" {
  description = "Days WAF logs are kept."
  type        = number
  default     = 365
}
