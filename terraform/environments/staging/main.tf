# The staging environment: the whole stack (../../stack) with staging's sizes.
# Apply from this directory (terraform/README.md):
#   terraform init -backend-config=backend.hcl
#   terraform apply -var-file=staging.tfvars

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
  # Bucket, key, region, lock table and KMS key come from backend.hcl
  # (backend.hcl.example). The state holds generated secrets: the bucket
  # must be encrypted, versioned and readable by operators only.
  backend "s3" {
    encrypt = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Application = "accord"
      Environment = "staging"
      ManagedBy   = "terraform"
    }
  }
}

module "accord" {
  source = "../../stack"

  name               = var.name
  public_url         = var.public_url
  certificate_arn    = var.certificate_arn
  image              = var.image
  cpu_architecture   = var.cpu_architecture
  availability_zones = var.availability_zones
  vpc_cidr_block     = "10.41.0.0/16"
  join_key_ids       = var.join_key_ids
  bucket_prefix      = var.bucket_prefix
  mail_domain        = var.mail_domain
  mail_from_address  = var.mail_from_address
  route53_zone_id    = var.route53_zone_id
  alarm_emails       = var.alarm_emails
  sfu_node_count     = 2

  sfu_signaling_domain = var.sfu_signaling_domain
  sfu_route53_zone_id  = var.sfu_route53_zone_id

  # Staging: smaller and cheaper, same shape as production.
  single_nat_gateway       = true
  api_desired_count        = 1
  api_max_count            = 2
  turn_node_count          = 1
  sfu_instance_type        = "c7i.large"
  turn_instance_type       = "t3.small"
  db_instance_class        = "db.t4g.medium"
  db_multi_az              = false
  db_backup_retention_days = 7
  redis_node_type          = "cache.t4g.micro"
  # Protected like production: set false in a deliberate apply before
  # destroying the environment.
  deletion_protection = true
}
