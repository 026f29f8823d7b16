//! Reading request bodies with a size limit, so each surface can answer an oversized or broken
//! body in its own format (problem JSON, OAuth JSON, an HTML page) instead of actix's plain text.

use actix_web::web;
use futures_util::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
}

pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| BodyError::Unreadable(err.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
