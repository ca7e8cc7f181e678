variable "name" {
  description = "Prefix for every resource's name, e.g. accord-production."
  type        = string
}

variable "availability_zones" {
  description = "The two availability zones to use, by name (e.g. [\"eu-west-1a\", \"eu-west-1b\"])."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "Exactly two zones."
  }
}

variable "cidr_block" {
  description = "The VPC's address range; a /16 is split into six /20 subnets."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both app subnets (cheaper, one AZ's outage cuts the API's way out) instead of one per AZ."
  type        = bool
  default     = false
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the flow-log group."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs."
  type        = number
  default     = 365
}
