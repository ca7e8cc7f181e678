# KMS keys. `vault` wraps the per-document data keys of the document vault
# (only the API's task role may use it, and only with the encryption context
# Accord sends); `platform` encrypts everything at rest (database, Redis,
# secrets, logs, alarm topic, image repository, buckets).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # rotation_period_in_days came in 5.41.
      version = "~> 5.41"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

# The account administers both keys through IAM; services get only the uses
# they need, scoped to this account.
data "aws_iam_policy_document" "platform" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key alone; the account root statement is AWS's default, delegating to IAM.
  #checkov:skip=CKV_AWS_111:As above: "*" in a key policy means this key.
  #checkov:skip=CKV_AWS_356:As above: "*" in a key policy means this key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
  statement {
    sid = "CloudWatchLogsEncrypt"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "platform" {
  description             = "${var.name}: data at rest (RDS, ElastiCache, Secrets Manager, logs, S3, ECR, SNS)"
  enable_key_rotation     = true
  rotation_period_in_days = var.rotation_period_days
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.platform.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.name}-platform"
  target_key_id = aws_kms_key.platform.key_id
}

data "aws_iam_policy_document" "vault" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key alone; the account root statement is AWS's default, delegating to IAM (the API's role gets its use there).
  #checkov:skip=CKV_AWS_111:As above: "*" in a key policy means this key.
  #checkov:skip=CKV_AWS_356:As above: "*" in a key policy means this key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
}

resource "aws_kms_key" "vault" {
  description             = "${var.name}: the document vault's key-encryption key (envelope encryption)"
  enable_key_rotation     = true
  rotation_period_in_days = var.rotation_period_days
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.vault.json
}

resource "aws_kms_alias" "vault" {
  name          = "alias/${var.name}-vault"
  target_key_id = aws_kms_key.vault.key_id
}
