variable "name" {
  description = "Name prefix (the NLB name is <name>-turn, at most 32 characters)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "vpc_cidr_block" {
  description = "The VPC's range (never relayed to)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets for the nodes and the NLB."
  type        = list(string)
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64 (the instance type's)."
  type        = string
  default     = "X86_64"
}

variable "instance_type" {
  description = "Instance type (relaying is network-bound)."
  type        = string
  default     = "c7i.large"
}

variable "node_count" {
  description = "coturn nodes (any number: credentials are stateless HMACs of the shared secret)."
  type        = number
  default     = 2
}

variable "realm" {
  description = "coturn's realm (usually the public host name)."
  type        = string
}

variable "relay_min_port" {
  description = "Lowest relay port."
  type        = number
  default     = 49152
}

variable "relay_max_port" {
  description = "Highest relay port."
  type        = number
  default     = 65535
}

variable "coturn_image" {
  description = "The coturn image, pinned (Docker Hub's official coturn/coturn, or a mirror in your registry)."
  type        = string
  default     = "coturn/coturn:4.6.3"
}

variable "turn_secret_arn" {
  description = "Secret: the shared secret (static-auth-secret)."
  type        = string
}

variable "kms_key_arn" {
  description = "The platform key (the secret is encrypted with it)."
  type        = string
}

variable "log_group_name" {
  description = "Log group for coturn."
  type        = string
}

variable "log_group_arn" {
  description = "Its ARN."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the NLB."
  type        = bool
  default     = true
}
