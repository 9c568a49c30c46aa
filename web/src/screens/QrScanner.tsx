/**
 * Scan an invite's QR with the camera: frames from getUserMedia drawn on a canvas and decoded by
 * jsQR a few times a second; the first QR that holds a code (a redeem link, words or digits) is it.
 */
import { parseAnyCode } from '@backchannel/sdk';
import jsQRModule from 'jsqr';
import { useEffect, useRef, useState } from 'react';

// jsqr is CommonJS (module.exports is the function): bundlers may hand it over as the default or inside it.
const jsQR = (jsQRModule as unknown as { default?: typeof jsQRModule }).default ?? jsQRModule;

/** How often a frame is decoded: often enough to feel instant, rare enough to leave the CPU alone. */
const SCAN_EVERY_MS = 250;

export function QrScanner({ onCode, onClose }: { onCode: (code: string) => void; onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [problem, setProblem] = useState<string>();
  const [looking, setLooking] = useState(false);
  const found = useRef(onCode);
  found.current = onCode;
  useEffect(() => {
    let live = true;
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    const stop = () => {
      clearInterval(timer);
      stream?.getTracks().forEach((t) => t.stop());
    };
    const canvas = document.createElement('canvas');
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!navigator.mediaDevices?.getUserMedia || !context) {
      setProblem('This browser gives no camera to this page.');
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false }).then(
      (s) => {
        stream = s;
        if (!live) return stop();
        const v = video.current!;
        v.srcObject = s;
        void v.play().catch(() => {});
        setLooking(true);
        timer = setInterval(() => {
          if (v.readyState < 2 || !v.videoWidth) return;
          const [w, h] = [v.videoWidth, v.videoHeight];
          canvas.width = w;
          canvas.height = h;
          context.drawImage(v, 0, 0, w, h);
          const text = jsQR(context.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: 'attemptBoth' })?.data;
          if (!text) return;
          try {
            const code = parseAnyCode(text, { words: 2 }).text;
            stop();
            found.current(code);
          } catch {
            setProblem('That QR code holds no Backchannel code. Point the camera at the invite on the other screen.');
          }
        }, SCAN_EVERY_MS);
      },
      (error: unknown) => {
        if (!live) return;
        const name = (error as Error).name;
        setProblem(
          name === 'NotAllowedError'
            ? 'The camera was not allowed. Allow it in the browser, or type the code.'
            : name === 'NotFoundError'
              ? 'No camera found. Type the code instead.'
              : `The camera did not start: ${(error as Error).message}`,
        );
      },
    );
    return () => {
      live = false;
      stop();
    };
  }, []);
  return (
    <div className="scanner">
      <video ref={video} muted playsInline aria-label="Camera view for scanning the invite's QR code" />
      <p role="status" className="muted">
        {looking && !problem ? "Point the camera at the QR code on the other person's screen." : ''}
      </p>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <button type="button" className="secondary" onClick={onClose}>
        Stop scanning
      </button>
    </div>
  );
}
