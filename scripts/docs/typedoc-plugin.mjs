// A guide's title on the docs site is its first "# " heading; typedoc would use the file name.
import { Converter, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const doc of context.project.getReflectionsByKind(ReflectionKind.Document)) {
      const heading = /^# (.+)$/m.exec(doc.content.map((part) => part.text).join(''));
      if (heading) doc.name = heading[1].replace(/`/g, '').trim();
    }
  });
}
