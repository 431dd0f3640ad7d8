// Typesets the math of pymdownx.arithmatex (generic mode) with the KaTeX copy shipped in
// docs/vendor/katex/, so pages render their formulas without any network access.
// Inline math is <span class="arithmatex">\( … \)</span>, display math is
// <div class="arithmatex">\[ … \]</div>; each is replaced by KaTeX's HTML in place.
// A formula KaTeX cannot parse is shown in red with the error as its tooltip
// (class "katex-error"), which docs/_tools/screenshot_math.py reports as a failure.
(function () {
  "use strict";

  function strip(text, display) {
    var source = text.trim();
    var open = display ? "\\[" : "\\(";
    var close = display ? "\\]" : "\\)";
    if (source.startsWith(open) && source.endsWith(close)) {
      return source.slice(open.length, source.length - close.length);
    }
    if (source.startsWith("$$") && source.endsWith("$$")) {
      return source.slice(2, -2);
    }
    return source;
  }

  function typeset(root) {
    var elements = (root || document).querySelectorAll(".arithmatex");
    elements.forEach(function (element) {
      if (element.dataset.typeset === "katex") {
        return;
      }
      var display = element.tagName === "DIV";
      var source = strip(element.textContent, display);
      katex.render(source, element, {
        displayMode: display,
        throwOnError: false,
        strict: "ignore",
        output: "htmlAndMathml",
      });
      element.dataset.typeset = "katex";
    });
  }

  // Headings with math appear as plain text in the navigation and table of contents
  // (<span class="md-ellipsis">The \(k\)-th moment</span>): wrap each \( … \) there in an
  // arithmatex span first, so it is typeset like the page's own formulas.
  function wrapNavigation(root) {
    var labels = (root || document).querySelectorAll(".md-ellipsis, .md-header__topic");
    labels.forEach(function (label) {
      if (label.children.length > 0 || label.textContent.indexOf("\\(") < 0) {
        return;
      }
      var parts = label.textContent.split(/(\\\(.+?\\\))/);
      label.textContent = "";
      parts.forEach(function (part) {
        if (part.startsWith("\\(") && part.endsWith("\\)")) {
          var span = document.createElement("span");
          span.className = "arithmatex";
          span.textContent = part;
          label.appendChild(span);
        } else if (part) {
          label.appendChild(document.createTextNode(part));
        }
      });
    });
  }

  function typesetAll() {
    wrapNavigation(document);
    typeset(document);
  }

  if (typeof document$ !== "undefined") {
    // mkdocs-material: runs on the first load and after every instant navigation.
    document$.subscribe(typesetAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", typesetAll);
  } else {
    typesetAll();
  }
})();
