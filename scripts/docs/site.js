// The docs site's own script (typedoc's customJs, copied to assets/custom.js):
// links to the web app and Storybook builds in the header, and the machine diagrams drawn by the
// mermaid copied next to this file (no CDN).
(() => {
  const here = document.currentScript.src;
  const root = new URL(document.documentElement.dataset.base ?? './', location.href);

  const links = document.querySelector('#tsd-toolbar-links');
  if (links) {
    for (const [text, path] of [
      ['Web app', 'web/index.html'],
      ['Storybook', 'storybook/index.html'],
    ]) {
      const a = document.createElement('a');
      a.href = new URL(path, root).href;
      a.textContent = text;
      links.append(a);
    }
  }

  const blocks = [...document.querySelectorAll('code.mermaid')];
  if (blocks.length === 0) return;
  const script = document.createElement('script');
  script.src = new URL('mermaid.min.js', here).href;
  script.onload = async () => {
    const mermaid = window.mermaid;
    const dark =
      document.documentElement.dataset.theme === 'dark' ||
      (document.documentElement.dataset.theme !== 'light' && matchMedia('(prefers-color-scheme: dark)').matches);
    mermaid.initialize({ startOnLoad: false, theme: dark ? 'dark' : 'default', maxTextSize: 200000, maxEdges: 2000, securityLevel: 'strict' });
    // typedoc keeps the body hidden (display: none) until its own script shows the page; mermaid measures
    // its text in the document, and in a hidden body every size is 0 (NaN positions, a failed render on a
    // slow machine). Draw once the page is shown and its fonts are in.
    await new Promise((shown) => {
      const check = () => (getComputedStyle(document.body).display === 'none' ? requestAnimationFrame(check) : shown());
      check();
    });
    await document.fonts?.ready;
    for (const [i, code] of blocks.entries()) {
      const figure = document.createElement('figure');
      figure.className = 'machine-diagram';
      const { svg } = await mermaid.render(`machine-diagram-${i}`, code.textContent);
      figure.innerHTML = svg;
      code.parentElement.replaceWith(figure);
    }
    document.documentElement.dataset.diagrams = 'rendered';
  };
  document.head.append(script);
})();
