# Every input of a deployment. terraform/README.md explains each one; the
# environments set them.

variable "name" {
  description = "Name of the deployment, prefix of every resource (lower case, at most 24 characters: load balancer names are limited)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "3-24 characters: lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "public_url" {
  description = "The URL people reach Accord at, with a trailing slash, e.g. https://mediation.example.org/."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate (in the deployment's region) for the public URL's host."
  type        = string
}

variable "image" {
  description = "The Accord image to run, by immutable tag: <repository_url>:<tag> (the repository is an output of the first apply)."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64: the image's, and so the Fargate tasks' and EC2 nodes'."
  type        = string
  default     = "X86_64"
}

variable "availability_zones" {
  description = "The two availability zones, by name, e.g. [\"eu-west-1a\", \"eu-west-1b\"]."
  type        = list(string)
}

variable "vpc_cidr_block" {
  description = "The VPC's /16."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per AZ."
  type        = bool
  default     = false
}

variable "join_key_ids" {
  description = "Join-token signing key ids, newest first; prepend one to rotate, drop the old one after the nodes restarted (docs/OPERATIONS.md)."
  type        = list(string)
}

variable "bucket_prefix" {
  description = "Globally unique prefix for the S3 buckets (<prefix>-vault, <prefix>-access-logs)."
  type        = string
}

variable "mail_domain" {
  description = "The domain Accord's mail comes from (an SES identity is made for it)."
  type        = string
}

variable "mail_from_address" {
  description = "Sender address, in mail_domain."
  type        = string
}

variable "mail_from_name" {
  description = "Sender display name."
  type        = string
  default     = "Accord"
}

variable "route53_zone_id" {
  description = "Hosted zone of mail_domain, to create the DKIM and MAIL FROM records there (null: publish the dns_records output yourself)."
  type        = string
  default     = null
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
  description = "API tasks at least."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "API tasks at most."
  type        = number
  default     = 6
}

variable "sfu_instance_type" {
  description = "SFU node instance type."
  type        = string
  default     = "c7i.large"
}

variable "sfu_node_count" {
  description = "SFU nodes; live sessions are placed on the least-loaded one through Redis."
  type        = number
  default     = 2
}

variable "sfu_signaling_domain" {
  description = "SFU node i answers signaling at sfu-<i>.<sfu_signaling_domain> (its own name, certificate and load balancer rule), e.g. the public URL's host."
  type        = string
}

variable "sfu_route53_zone_id" {
  description = "Hosted zone of sfu_signaling_domain: the nodes' records and their certificate's validation records are made there."
  type        = string
}

variable "turn_instance_type" {
  description = "coturn node instance type."
  type        = string
  default     = "c7i.large"
}

variable "turn_node_count" {
  description = "coturn nodes."
  type        = number
  default     = 2
}

variable "db_engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "A standby in the second AZ."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup and point-in-time recovery window."
  type        = number
  default     = 14
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "deletion_protection" {
  description = "Protect the database and load balancers from deletion."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "Addresses that get alarms."
  type        = list(string)
  default     = []
}
