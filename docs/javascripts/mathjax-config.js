// MathJax 3 settings, read before docs/javascripts/mathjax/tex-svg.js loads (the file is copied into the built
// site from the django-static-mathjax wheel by mkdocs_hooks.py). arithmatex writes \( \) and \[ \]; the
// notebooks' Markdown cells keep $ and $$.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"]}
};
if (window.document$) {   // material's instant navigation: typeset each new page
  window.document$.subscribe(() => { if (window.MathJax.typesetPromise) window.MathJax.typesetPromise(); });
}
