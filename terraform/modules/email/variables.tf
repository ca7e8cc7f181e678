variable "name" {
  description = "Name prefix."
  type        = string
}

variable "domain" {
  description = "The domain Accord's mail comes from, e.g. example.org."
  type        = string
}

variable "from_address" {
  description = "The bare sender address (mail.from's address), e.g. mediation@example.org; the SMTP user may send as nothing else."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of the domain: when given, the DKIM and MAIL FROM records are created there."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "The platform key (the SMTP credential secret)."
  type        = string
}
