// What the session publishes from the chosen camera.

/**
 * The camera's published size: VGA-class, whatever the device check
 * previewed. The SFU forwards each receiver the simulcast layer that fits
 * its tile (a quarter, half and full of this), and a session's tiles are
 * rarely larger; three layers of 720p would cost every participant's
 * machine about three times the encoding for pictures nobody sees larger.
 */
export const SENT_CAMERA: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 480 } };

/** Applies SENT_CAMERA to a camera track (a camera that cannot keeps its size). */
export async function fitCameraForSending(track: MediaStreamTrack): Promise<void> {
  try {
    await track.applyConstraints({ ...track.getConstraints(), ...SENT_CAMERA });
  } catch {
    // Sent at the size it has.
  }
}

/** Applies SENT_CAMERA to a stream's camera before joining with it. */
export async function fitStreamForSending(stream: MediaStream): Promise<MediaStream> {
  await Promise.all(stream.getVideoTracks().map(fitCameraForSending));
  return stream;
}
