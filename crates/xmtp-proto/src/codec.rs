//! The gRPC codec of both services: prost encoding, with malformed protobufs reported as
//! `InvalidArgument` (tonic's stock codec says `Internal`, which tells a client nothing about
//! whose fault it was).

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Prost encoding with `InvalidArgument` for undecodable messages.
#[derive(Debug, Clone)]
pub struct XmtpCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for XmtpCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for XmtpCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = XmtpDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        XmtpDecoder(ProstCodec::<T, U>::raw_decoder(BufferSettings::default()))
    }
}

/// Decodes `U`, mapping protobuf errors to `InvalidArgument`.
#[derive(Debug)]
pub struct XmtpDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for XmtpDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            Status::invalid_argument(format!("malformed protobuf message: {}", status.message()))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
