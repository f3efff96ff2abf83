//! The steps of the pipeline that work on tensors left on the compute device: alignment
//! from the frame the detector uploaded, and classification of crops made there. Only the
//! torch engines on CUDA (or `preprocess = "device"`) put anything on a device; without
//! libtorch `DeviceTensor` has no values, and these functions are unreachable by type.
#[cfg(feature = "torch")]
use crate::align::alignment;
#[cfg(feature = "torch")]
use crate::align::device::{to_host_crops, warp_batch};
use crate::error::Result;
use crate::messages::{ClassOutput, DeviceTensor, FrameMsg, InputSpec};
use crate::model::Classifier;

/// All faces of a frame in one batched warp from the frame already on the device; the blur
/// measure's 64x64 gray crops come back to the host (4 KB a face), the model's stay.
#[cfg(feature = "torch")]
pub fn align_on_device(msg: &mut FrameMsg, frame: DeviceTensor, spec: &InputSpec, blur_spec: &InputSpec) -> Result<()> {
    let frame = &frame.0;
    let mut to_crop = Vec::new();
    let mut to_blur = Vec::new();
    for f in &mut msg.faces {
        if let (Some(m), Some(b)) =
            (alignment(&f.detection.landmarks, spec), alignment(&f.detection.landmarks, blur_spec))
        {
            f.device_crop = true;
            to_crop.push(m);
            to_blur.push(b);
        } else {
            f.blur = Some(0.0);
        }
    }
    let crops = tch::no_grad(|| warp_batch(frame, &to_crop, spec.width, spec.height, spec.color, spec.gray_weights));
    let same_geometry = (spec.width, spec.height, spec.color) == (blur_spec.width, blur_spec.height, blur_spec.color);
    let blur = if same_geometry {
        crops.shallow_clone()
    } else {
        let b = blur_spec;
        tch::no_grad(|| warp_batch(frame, &to_blur, b.width, b.height, b.color, b.gray_weights))
    };
    let mut blur = to_host_crops(&blur)?.into_iter();
    for f in msg.faces.iter_mut().filter(|f| f.device_crop) {
        f.blur = blur.next().map(|c| crate::quality::laplacian_variance(&c));
    }
    msg.device.crops = Some(DeviceTensor(crops));
    Ok(())
}

/// Device crops (one tensor per frame, joined across frames) through `classify_device`, in
/// chunks of `max_batch`.
#[cfg(feature = "torch")]
pub fn classify_on_device(
    clf: &mut dyn Classifier,
    max_batch: usize,
    crops: &[&DeviceTensor],
) -> Result<Vec<ClassOutput>> {
    let x = tch::Tensor::cat(&crops.iter().map(|c| c.0.shallow_clone()).collect::<Vec<_>>(), 0);
    let n = x.size()[0];
    let mut outputs = Vec::new();
    for start in (0..n).step_by(max_batch) {
        outputs.extend(clf.classify_device(&x.narrow(0, start, (n - start).min(max_batch as i64)))?);
    }
    Ok(outputs)
}

#[cfg(not(feature = "torch"))]
pub fn align_on_device(_: &mut FrameMsg, frame: DeviceTensor, _: &InputSpec, _: &InputSpec) -> Result<()> {
    match frame {}
}

#[cfg(not(feature = "torch"))]
pub fn classify_on_device(_: &mut dyn Classifier, _: usize, crops: &[&DeviceTensor]) -> Result<Vec<ClassOutput>> {
    match crops.first() {
        Some(&t) => match *t {},
        None => Ok(Vec::new()),
    }
}
