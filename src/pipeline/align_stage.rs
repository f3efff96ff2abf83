//! The align stage: each face cut out of its frame into the classifier's crop, by its
//! landmarks, with the blur measure the uncertainty needs. It is the last stage to read a
//! frame's pixels unless a sink draws on them, so the frame's buffer is returned here.
use super::{device, StageOut};
use crate::align::align_face;
use crate::error::Result;
use crate::messages::{elapsed_ms, FrameMsg, InputSpec, RgbImage};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Aligns each frame's faces; when no sink reads pixels (`keep_pixels` false), the frame's
/// buffer then goes back to the decoder and the frame travels on with its size only.
pub(super) fn align_stage(
    spec: &InputSpec,
    on_device: bool,
    keep_pixels: bool,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
) -> Result<StageOut> {
    let blur_spec = crate::quality::blur_spec(spec);
    for mut msg in rx {
        align_one(&mut msg, spec, &blur_spec, on_device)?;
        if !keep_pixels {
            let size_only = Arc::new(RgbImage::size_only(msg.image.width, msg.image.height));
            if let Ok(image) = Arc::try_unwrap(std::mem::replace(&mut msg.image, size_only)) {
                crate::imageops::pool::give(image.data);
            }
        }
        if tx.send(msg).is_err() {
            break;
        }
    }
    Ok(StageOut::None)
}

/// One frame's faces aligned into the classifier's crops, with their blur measure: on the
/// device when the frame is there (`on_device`), else on the host.
pub(super) fn align_one(msg: &mut FrameMsg, spec: &InputSpec, blur_spec: &InputSpec, on_device: bool) -> Result<()> {
    let t = Instant::now();
    match msg.device.frame.take().filter(|_| on_device) {
        Some(frame) => device::align_on_device(msg, frame, spec, blur_spec)?,
        None => {
            for f in &mut msg.faces {
                f.crop = align_face(&msg.image, &f.detection.landmarks, spec);
                let crop = f.crop.as_ref();
                f.blur = Some(crate::quality::face_blur(&msg.image, &f.detection.landmarks, blur_spec, crop));
            }
        }
    }
    msg.timings.align_ms = elapsed_ms(t);
    Ok(())
}
