//! The baseline for `scripts/bench-vault`: raw `aws-sdk-s3` throughput
//! against the same S3 server, with the same part size and parts in flight
//! as the vault's store. Puts a file as one multipart upload, gets it back
//! into nothing, prints MB/s for each.
//!
//!   cargo run --release -p accord-vault --example s3_raw -- ENDPOINT BUCKET FILE

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncReadExt;

const PART: usize = accord_vault::store::S3Store::PART_LEN;
const IN_FLIGHT: usize = accord_vault::store::S3Store::PARTS_IN_FLIGHT;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, bucket, file] = args.as_slice() else {
        return Err("usage: s3_raw ENDPOINT BUCKET FILE".into());
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let key = "bench/raw";
    let started = Instant::now();
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await?;
    let id = upload.upload_id().unwrap_or_default().to_owned();
    let mut f = tokio::fs::File::open(file).await?;
    let mut parts = Vec::new();
    let mut in_flight: std::collections::VecDeque<
        tokio::task::JoinHandle<Result<CompletedPart, String>>,
    > = Default::default();
    let mut total = 0u64;
    for number in 1.. {
        let mut buf = Vec::with_capacity(PART);
        (&mut f).take(PART as u64).read_to_end(&mut buf).await?;
        if buf.is_empty() {
            break;
        }
        total += buf.len() as u64;
        while in_flight.len() >= IN_FLIGHT {
            parts.push(
                in_flight
                    .pop_front()
                    .unwrap_or_else(|| unreachable!())
                    .await??,
            );
        }
        let (s3, bucket, id) = (s3.clone(), bucket.clone(), id.clone());
        in_flight.push_back(tokio::spawn(async move {
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(number)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build())
        }));
    }
    for t in in_flight {
        parts.push(t.await??);
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    let put = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut body = s3.get_object().bucket(bucket).key(key).send().await?.body;
    let mut got = 0u64;
    while let Some(chunk) = body.try_next().await? {
        got += chunk.len() as u64;
    }
    let get = started.elapsed().as_secs_f64();
    s3.delete_object().bucket(bucket).key(key).send().await?;
    assert_eq!(got, total, "the object came back short");
    let mb = total as f64 / 1e6;
    println!("raw_put_mbps={:.1}", mb / put);
    println!("raw_get_mbps={:.1}", mb / get);
    Ok(())
}
