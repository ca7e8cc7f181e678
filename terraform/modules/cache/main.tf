# ElastiCache Redis: rate-limit buckets, spent join-token ids and the
# session-to-SFU-node map. TLS in transit, AUTH token, encrypted at rest,
# a replica in the second AZ with automatic failover.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "redis" {
  name_prefix = "${var.name}-redis-"
  description = "Redis: reachable from the Accord nodes only"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  # count, not for_each: the groups' ids are unknown until they exist.
  count                        = length(var.client_security_group_ids)
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from an Accord node group"
  referenced_security_group_id = var.client_security_group_ids[count.index]
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "Accord: rate limits, spent join tokens, SFU placement"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.redis.id]

  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  auth_token                 = var.auth_token
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false
}

# The URL every node connects with (`[redis] url`: TLS, the AUTH token in
# it), as a secret the API's tasks and the SFU nodes read at start.
resource "aws_secretsmanager_secret" "url" {
  #checkov:skip=CKV2_AWS_57:The URL embeds the AUTH token, rotated as docs/OPERATIONS.md describes (a new token, then this URL); a rotation Lambda would have to rewrite both.
  name                    = "${var.name}/redis-url"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "url" {
  secret_id     = aws_secretsmanager_secret.url.id
  secret_string = "rediss://:${var.auth_token}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
}
