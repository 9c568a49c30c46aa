/**
 * Where files plug in: how a message's file shows, and the composer's attach control. Files are not
 * sent yet (the SDK's FileRef carries name, type, size and hash); this is the seam they fill.
 */
import type { FileRef } from '@backchannel/sdk';

export function FileAttachment({ file }: { file: FileRef }) {
  return (
    <span className="file">
      📎 {file.filename} ({file.size} bytes)
    </span>
  );
}

/** The composer's attach control: none until file transfer lands. */
export function AttachControl(_props: { contactId: string }) {
  return null;
}
