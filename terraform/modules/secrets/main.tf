# Secrets Manager holds every credential the nodes read at start: the
# database passwords, Redis's auth token, coturn's shared secret and the
# join-token signing keys. Values are generated here, so they also sit in
# the Terraform state: keep the state in an encrypted, access-logged bucket
# (terraform/README.md).

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

resource "random_password" "db_owner" {
  length  = 40
  special = false
}

resource "random_password" "db_app" {
  length  = 40
  special = false
}

# ElastiCache auth tokens: 16-128 printable characters, no @ " /.
resource "random_password" "redis" {
  length  = 64
  special = false
}

resource "random_password" "turn" {
  length  = 48
  special = false
}

# One P-256 key per id, newest first. Rotation: put a new id first and
# apply (every node then verifies both, signs with the new one); remove the
# old id at least two minutes later (join tokens live two minutes) and apply.
resource "tls_private_key" "join" {
  for_each    = toset(var.join_key_ids)
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

locals {
  # A TOML fragment the nodes put first in their configuration:
  #   [[join_tokens.keys]]
  #   kid = "2026-12"
  #   pem = """<PKCS#8 PEM>"""
  join_keys_toml = join("\n", [
    for kid in var.join_key_ids : format(
      "[[join_tokens.keys]]\nkid = \"%s\"\npem = \"\"\"\n%s\n\"\"\"\n",
      kid,
      trimspace(tls_private_key.join[kid].private_key_pem_pkcs8),
    )
  ])
  secrets = {
    "db-owner-password" = random_password.db_owner.result
    "db-app-password"   = random_password.db_app.result
    "redis-auth-token"  = random_password.redis.result
    "turn-secret"       = random_password.turn.result
    "join-keys-toml"    = local.join_keys_toml
  }
}

# for_each runs over the names only: the values are sensitive.
resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:Application keys rotated by the procedures in docs/OPERATIONS.md (join keys by list order, passwords by ALTER ROLE); a generic rotation Lambda cannot rotate them.
  for_each                = toset(keys(local.secrets))
  name                    = "${var.name}/${each.key}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret_version" "this" {
  for_each      = toset(keys(local.secrets))
  secret_id     = aws_secretsmanager_secret.this[each.key].id
  secret_string = local.secrets[each.key]
}
