// flowgate admin UI: progressive enhancement only. Every page works without this file.
//  - copy buttons for the one-time credential and the curl command;
//  - the wizard moves between questions without a page load (the server renders the result).
'use strict';

(function () {
  function copyButtons() {
    document.querySelectorAll('button.copy[data-copy]').forEach(function (btn) {
      var target = document.getElementById(btn.getAttribute('data-copy'));
      if (!target || !navigator.clipboard) return;
      btn.hidden = false;
      btn.addEventListener('click', function () {
        navigator.clipboard.writeText(target.textContent).then(function () {
          btn.textContent = 'Copied';
          btn.classList.add('copied');
          setTimeout(function () { btn.textContent = 'Copy'; btn.classList.remove('copied'); }, 2000);
        }, function () {
          // clipboard refused (permissions): select the text so Ctrl+C works
          var range = document.createRange();
          range.selectNodeContents(target);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
        });
      });
    });
  }

  // The wizard walks the decision tree the server derived from the policy (data-tree); each
  // node is {q, n, yes, no} or {row, n}. Questions change in place; a leaf submits the form,
  // so the result page (recommendation, notes, picture) always comes from the server.
  function wizard() {
    var form = document.getElementById('wizard-form');
    if (!form || !window.history || !history.pushState) return;
    var tree, texts;
    try {
      tree = JSON.parse(form.getAttribute('data-tree'));
      texts = JSON.parse(form.getAttribute('data-questions'));
    } catch (e) {
      return;
    }
    var legend = document.getElementById('wizard-question');
    var stepEl = document.getElementById('wizard-step');
    var hiddenBox = document.getElementById('wizard-hidden');
    var back = document.getElementById('wizard-back');
    var restart = document.getElementById('wizard-restart');
    var list = document.getElementById('wizard-answers');
    var yes = document.getElementById('answer-yes');
    var no = document.getElementById('answer-no');

    function answersFromUrl() {
      var params = new URLSearchParams(location.search);
      var out = [];
      var node = tree;
      while (node && node.q && (params.get(node.q) === 'yes' || params.get(node.q) === 'no')) {
        var a = params.get(node.q);
        out.push({ q: node.q, a: a });
        node = a === 'yes' ? node.yes : node.no;
      }
      return out;
    }

    function walk(answers) {
      var path = [tree];
      var node = tree;
      answers.forEach(function (x) { node = x.a === 'yes' ? node.yes : node.no; path.push(node); });
      return path;
    }

    function url(answers) {
      var p = new URLSearchParams();
      answers.forEach(function (x) { p.append(x.q, x.a); });
      var s = p.toString();
      return '/admin/wizard' + (s ? '?' + s : '');
    }

    function highlight(path) {
      var svg = document.querySelector('#wizard-tree svg');
      if (!svg) return;
      var on = {};
      path.forEach(function (n) { on[n.n] = true; });
      svg.querySelectorAll('.node').forEach(function (g) {
        var n = g.getAttribute('data-node');
        g.classList.toggle('taken', !!on[n]);
        g.classList.toggle('current', Number(n) === path[path.length - 1].n && g.classList.contains('question'));
        if (on[n]) g.setAttribute('data-taken', 'true'); else g.removeAttribute('data-taken');
      });
      svg.querySelectorAll('.edge, .edge-label').forEach(function (e) {
        var from = e.getAttribute('data-from');
        var to = e.getAttribute('data-to');
        var taken = from !== null && on[from] && on[to];
        e.classList.toggle('taken', !!taken);
        if (e.classList.contains('edge')) {
          if (taken) e.setAttribute('data-taken', 'true'); else e.removeAttribute('data-taken');
        }
      });
    }

    function render(answers, focus) {
      var path = walk(answers);
      var node = path[path.length - 1];
      if (!node.q) return false;
      legend.textContent = texts[node.q] || node.q;
      stepEl.textContent = String(answers.length + 1);
      yes.name = node.q;
      no.name = node.q;
      while (hiddenBox.firstChild) hiddenBox.removeChild(hiddenBox.firstChild);
      answers.forEach(function (x) {
        var i = document.createElement('input');
        i.type = 'hidden';
        i.name = x.q;
        i.value = x.a;
        hiddenBox.appendChild(i);
      });
      back.hidden = answers.length === 0;
      restart.hidden = answers.length === 0;
      back.href = url(answers.slice(0, -1));
      while (list.firstChild) list.removeChild(list.firstChild);
      answers.forEach(function (x, i) {
        var li = document.createElement('li');
        var q = document.createElement('span');
        q.className = 'q';
        q.textContent = texts[x.q] || x.q;
        var a = document.createElement('strong');
        a.className = 'a';
        a.textContent = x.a === 'yes' ? 'Yes' : 'No';
        var c = document.createElement('a');
        c.className = 'small';
        c.href = url(answers.slice(0, i));
        c.textContent = 'change';
        li.appendChild(q);
        li.appendChild(document.createTextNode(' '));
        li.appendChild(a);
        li.appendChild(document.createTextNode(' '));
        li.appendChild(c);
        list.appendChild(li);
      });
      highlight(path);
      treeIntoView();
      if (focus) legend.focus();
      return true;
    }

    var state = answersFromUrl();
    var pushed = 0;

    form.addEventListener('submit', function (ev) {
      var btn = ev.submitter;
      if (!btn || (btn.value !== 'yes' && btn.value !== 'no')) return;
      var next = state.concat([{ q: btn.name, a: btn.value }]);
      var path = walk(next);
      if (!path[path.length - 1].q) return; // a result: let the server render it
      ev.preventDefault();
      state = next;
      pushed++;
      history.pushState({ wizard: true }, '', url(state));
      render(state, true);
    });

    back.addEventListener('click', function (ev) {
      if (pushed === 0) return; // came here by a page load: follow the link
      ev.preventDefault();
      history.back();
    });

    window.addEventListener('popstate', function () {
      if (pushed > 0) pushed--;
      state = answersFromUrl();
      if (!render(state, true)) location.reload();
    });
  }

  // On a narrow screen the decision tree scrolls sideways: bring the part that matters (the
  // question being asked, or the result) into view.
  function treeIntoView() {
    var box = document.getElementById('wizard-tree');
    if (!box || box.scrollWidth <= box.clientWidth) return;
    var target = box.querySelector('g.node.current') || box.querySelector('g.node.leaf.taken');
    if (!target) return;
    var b = box.getBoundingClientRect();
    var t = target.getBoundingClientRect();
    box.scrollLeft += (t.left + t.width / 2) - (b.left + b.width / 2);
  }

  function start() {
    copyButtons();
    wizard();
    treeIntoView();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
