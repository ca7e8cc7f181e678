variable "region" {
  description = "AWS region of the staging deployment."
  type        = string
}

variable "availability_zones" {
  description = "Two availability zones of the region, by name."
  type        = list(string)
}

variable "name" {
  description = "Prefix of every resource, e.g. accord-staging."
  type        = string
  default     = "accord-staging"
}

variable "public_url" {
  description = "The URL people reach staging at, with a trailing slash."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the public URL's host, in the region."
  type        = string
}

variable "image" {
  description = "The Accord image by immutable tag, <repository_url>:<tag>."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64, the image's."
  type        = string
  default     = "X86_64"
}

variable "join_key_ids" {
  description = "Join-token signing key ids, newest first."
  type        = list(string)
}

variable "bucket_prefix" {
  description = "Globally unique prefix for the S3 buckets."
  type        = string
}

variable "mail_domain" {
  description = "Domain Accord's mail comes from."
  type        = string
}

variable "mail_from_address" {
  description = "Sender address in mail_domain."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of mail_domain for the DKIM and MAIL FROM records (null: publish them yourself)."
  type        = string
  default     = null
}

variable "alarm_emails" {
  description = "Addresses that get alarms."
  type        = list(string)
  default     = []
}

variable "sfu_signaling_domain" {
  description = "SFU node i answers signaling at sfu-<i>.<sfu_signaling_domain> (e.g. the public URL's host)."
  type        = string
}

variable "sfu_route53_zone_id" {
  description = "Hosted zone of sfu_signaling_domain (the SFU nodes' records and certificate validation)."
  type        = string
}
