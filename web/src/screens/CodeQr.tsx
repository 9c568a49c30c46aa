/** A QR code of `text` (an invite's redeem link, a link code), drawn by the SDK's QR encoder. */
import { qrSvg } from '@backchannel/sdk/qr';
import { useEffect, useState } from 'react';

export function CodeQr({ text, alt }: { text: string | undefined; alt: string }) {
  const [qr, setQr] = useState<string>();
  useEffect(() => {
    let live = true;
    setQr(undefined);
    if (text) void qrSvg(text).then((svg) => live && setQr(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`));
    return () => {
      live = false;
    };
  }, [text]);
  return qr ? <img className="qr" src={qr} alt={alt} width={200} height={200} /> : null;
}
