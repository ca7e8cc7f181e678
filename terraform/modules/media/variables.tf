variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "vpc_cidr_block" {
  description = "The VPC's range (Postgres and Redis are inside it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets for the nodes (two AZs)."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "The load balancer's security group (admitted on 8080)."
  type        = string
}

variable "https_listener_arn" {
  description = "The load balancer's HTTPS listener (this module adds the /sfu/* rule)."
  type        = string
}

variable "image" {
  description = "The Accord image (<repository_url>:<tag>), the same release as the API."
  type        = string
}

variable "repository_arn" {
  description = "The image repository (the nodes may pull from it only)."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64, matching the image and instance type."
  type        = string
  default     = "X86_64"
  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "X86_64 or ARM64."
  }
}

variable "instance_type" {
  description = "Instance type (compute optimised: one live session is one core's work at most)."
  type        = string
  default     = "c7i.large"
}

variable "node_count" {
  description = "SFU nodes. Each live session lives on one node, placed on the least-loaded one through Redis; node i answers signaling at sfu-<i>.<signaling_domain>, and its own auto-scaling group of one replaces it when it fails (its sessions' participants reconnect to another node meanwhile)."
  type        = number
  default     = 2
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 40
    error_message = "Between 1 and 40 nodes (one listener rule each on the load balancer)."
  }
}

variable "signaling_domain" {
  description = "Node i's signaling host is sfu-<i>.<signaling_domain> (e.g. accord.example.org): a record in route53_zone_id pointing at the load balancer, a certificate for *.<signaling_domain> on its HTTPS listener, and a listener rule sending that host to node i alone."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of signaling_domain (the nodes' records and the certificate's validation records go there)."
  type        = string
}

variable "alb_dns_name" {
  description = "The load balancer's DNS name (the nodes' records alias it)."
  type        = string
}

variable "alb_zone_id" {
  description = "The load balancer's hosted zone id."
  type        = string
}

variable "redis_url_secret_arn" {
  description = "Secret: the Redis URL (from the cache module): the nodes announce themselves and keep their sessions' room state there."
  type        = string
}

variable "media_port" {
  description = "The one UDP and TCP port all media uses (sfu.udp_bind, sfu.tcp_bind)."
  type        = number
  default     = 3479
}

variable "turn_urls" {
  description = "TURN URLs given to clients (from the turn module)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "The platform key (secrets and image are encrypted with it)."
  type        = string
}

variable "database_url_secret_arn" {
  description = "Secret: the app role's database URL."
  type        = string
}

variable "join_keys_secret_arn" {
  description = "Secret: the join-token keys as a TOML fragment."
  type        = string
}

variable "turn_secret_arn" {
  description = "Secret: coturn's shared secret."
  type        = string
}

variable "log_group_name" {
  description = "Log group for the nodes."
  type        = string
}

variable "log_group_arn" {
  description = "Its ARN."
  type        = string
}

variable "log_filter" {
  description = "ACCORD__LOG__FILTER for the nodes."
  type        = string
  default     = "info"
}
