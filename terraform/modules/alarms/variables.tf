variable "name" {
  description = "Alarm name prefix."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  type        = string
}

variable "alb_arn_suffix" {
  description = "The load balancer (CloudWatch dimension)."
  type        = string
}

variable "api_target_group_arn_suffix" {
  description = "The API target group (dimension)."
  type        = string
}

variable "sfu_target_group_arn_suffixes" {
  description = "Each SFU node's target group (dimension), by node index."
  type        = map(string)
}

variable "sfu_autoscaling_group_names" {
  description = "Each SFU node's group of one, by node index."
  type        = map(string)
}

variable "cluster_name" {
  description = "The ECS cluster."
  type        = string
}

variable "service_name" {
  description = "The API service."
  type        = string
}

variable "db_instance_id" {
  description = "The RDS instance."
  type        = string
}

variable "db_min_free_storage_bytes" {
  description = "Alarm below this much free database storage."
  type        = number
  default     = 10737418240
}

variable "redis_replication_group_id" {
  description = "The Redis replication group."
  type        = string
}

variable "api_p95_seconds" {
  description = "Alarm when the API's p95 answer time is above this."
  type        = number
  default     = 1
}

variable "error_log_groups" {
  description = "Log groups whose ERROR lines are counted, by short name (api, sfu)."
  type        = map(string)
}

variable "error_lines_per_5m" {
  description = "Alarm above this many ERROR lines per log in 5 minutes."
  type        = number
  default     = 10
}
