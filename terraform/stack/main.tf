# One Accord deployment: every module wired together. The environments
# (../environments/*) call this with their own sizes and names.
#
#   clients ──HTTPS──▶ ALB (WAF) ──▶ API tasks (ECS Fargate, private subnets)
#                         └─/sfu/*──▶ SFU nodes (EC2, public IPs) ◀──UDP/TCP media── clients
#                                          ▲ relayed media
#   clients ──TURN 3478──▶ NLB ──▶ coturn nodes
#   API tasks, SFU nodes ──▶ RDS Postgres, ElastiCache Redis (data subnets)
#   API tasks ──▶ S3 vault bucket, KMS vault key, SES SMTP

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}

locals {
  host = regex("^https://([^/]+)/$", var.public_url)[0]
}

module "keys" {
  source = "../modules/keys"
  name   = var.name
}

module "logs" {
  source         = "../modules/logs"
  name           = var.name
  kms_key_arn    = module.keys.platform_key_arn
  retention_days = var.log_retention_days
  alarm_emails   = var.alarm_emails
}

module "network" {
  source                  = "../modules/network"
  name                    = var.name
  availability_zones      = var.availability_zones
  cidr_block              = var.vpc_cidr_block
  single_nat_gateway      = var.single_nat_gateway
  logs_kms_key_arn        = module.keys.platform_key_arn
  flow_log_retention_days = var.log_retention_days
}

module "secrets" {
  source       = "../modules/secrets"
  name         = var.name
  kms_key_arn  = module.keys.platform_key_arn
  join_key_ids = var.join_key_ids
}

module "storage" {
  source      = "../modules/storage"
  name        = var.bucket_prefix
  kms_key_arn = module.keys.platform_key_arn
}

module "email" {
  source          = "../modules/email"
  name            = var.name
  domain          = var.mail_domain
  from_address    = var.mail_from_address
  route53_zone_id = var.route53_zone_id
  kms_key_arn     = module.keys.platform_key_arn
}

module "compute" {
  source                        = "../modules/compute"
  name                          = var.name
  vpc_id                        = module.network.vpc_id
  vpc_cidr_block                = module.network.vpc_cidr_block
  public_subnet_ids             = module.network.public_subnet_ids
  app_subnet_ids                = module.network.app_subnet_ids
  certificate_arn               = var.certificate_arn
  public_url                    = var.public_url
  image                         = var.image
  cpu_architecture              = var.cpu_architecture
  api_cpu                       = var.api_cpu
  api_memory                    = var.api_memory
  api_desired_count             = var.api_desired_count
  api_max_count                 = var.api_max_count
  mail_from                     = "${var.mail_from_name} <${var.mail_from_address}>"
  deletion_protection           = var.deletion_protection
  access_logs_bucket            = module.storage.logs_bucket
  kms_key_arn                   = module.keys.platform_key_arn
  vault_key_arn                 = module.keys.vault_key_arn
  vault_bucket_arn              = module.storage.vault_bucket_arn
  database_url_secret_arn       = module.database.url_secret_arn
  database_admin_url_secret_arn = module.database.admin_url_secret_arn
  join_keys_secret_arn          = module.secrets.arns["join-keys-toml"]
  redis_url_secret_arn          = module.cache.url_secret_arn
  smtp_secret_arn               = module.email.smtp_secret_arn
  api_log_group_name            = module.logs.log_group_names["api"]
  api_log_group_arn             = module.logs.log_group_arns["api"]
  ops_log_group_name            = module.logs.log_group_names["ops"]
  ops_log_group_arn             = module.logs.log_group_arns["ops"]
  log_retention_days            = var.log_retention_days
}

module "turn" {
  source              = "../modules/turn"
  name                = var.name
  vpc_id              = module.network.vpc_id
  vpc_cidr_block      = module.network.vpc_cidr_block
  public_subnet_ids   = module.network.public_subnet_ids
  cpu_architecture    = var.cpu_architecture
  instance_type       = var.turn_instance_type
  node_count          = var.turn_node_count
  realm               = local.host
  turn_secret_arn     = module.secrets.arns["turn-secret"]
  kms_key_arn         = module.keys.platform_key_arn
  log_group_name      = module.logs.log_group_names["turn"]
  log_group_arn       = module.logs.log_group_arns["turn"]
  deletion_protection = var.deletion_protection
}

module "media" {
  source                  = "../modules/media"
  name                    = var.name
  vpc_id                  = module.network.vpc_id
  vpc_cidr_block          = module.network.vpc_cidr_block
  public_subnet_ids       = module.network.public_subnet_ids
  alb_security_group_id   = module.compute.alb_security_group_id
  https_listener_arn      = module.compute.https_listener_arn
  image                   = var.image
  repository_arn          = module.compute.repository_arn
  cpu_architecture        = var.cpu_architecture
  instance_type           = var.sfu_instance_type
  node_count              = var.sfu_node_count
  turn_urls               = module.turn.urls
  kms_key_arn             = module.keys.platform_key_arn
  database_url_secret_arn = module.database.url_secret_arn
  join_keys_secret_arn    = module.secrets.arns["join-keys-toml"]
  turn_secret_arn         = module.secrets.arns["turn-secret"]
  redis_url_secret_arn    = module.cache.url_secret_arn
  signaling_domain        = var.sfu_signaling_domain
  route53_zone_id         = var.sfu_route53_zone_id
  alb_dns_name            = module.compute.alb_dns_name
  alb_zone_id             = module.compute.alb_zone_id
  log_group_name          = module.logs.log_group_names["sfu"]
  log_group_arn           = module.logs.log_group_arns["sfu"]
}

module "database" {
  source                    = "../modules/database"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.data_subnet_ids
  client_security_group_ids = [module.compute.api_security_group_id, module.media.security_group_id]
  engine_version            = var.db_engine_version
  instance_class            = var.db_instance_class
  multi_az                  = var.db_multi_az
  backup_retention_days     = var.db_backup_retention_days
  deletion_protection       = var.deletion_protection
  kms_key_arn               = module.keys.platform_key_arn
  owner_password            = module.secrets.db_owner_password
  app_password              = module.secrets.db_app_password
}

module "cache" {
  source                    = "../modules/cache"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.data_subnet_ids
  client_security_group_ids = [module.compute.api_security_group_id, module.media.security_group_id]
  node_type                 = var.redis_node_type
  kms_key_arn               = module.keys.platform_key_arn
  auth_token                = module.secrets.redis_auth_token
}

module "alarms" {
  source                        = "../modules/alarms"
  name                          = var.name
  alarm_topic_arn               = module.logs.alarm_topic_arn
  alb_arn_suffix                = module.compute.alb_arn_suffix
  api_target_group_arn_suffix   = module.compute.api_target_group_arn_suffix
  sfu_target_group_arn_suffixes = module.media.target_group_arn_suffixes
  sfu_autoscaling_group_names   = module.media.autoscaling_group_names
  cluster_name                  = module.compute.cluster_name
  service_name                  = module.compute.service_name
  db_instance_id                = module.database.instance_id
  redis_replication_group_id    = module.cache.replication_group_id
  error_log_groups = {
    api = module.logs.log_group_names["api"]
    sfu = module.logs.log_group_names["sfu"]
  }
}
