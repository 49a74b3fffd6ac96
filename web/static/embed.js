// flowgate's host page for an embedded Corti Assistant (GET /embed/{app}, fcgi/enduser-embed.c).
// Once the framed Assistant says it is ready, fetch the signed-in user's token set from
// /api/v1/session/assistant-credentials and hand it over with the Assistant's "auth" message,
// posted to and accepted from the Assistant's origin only; hand a fresh set over at half its
// lifetime; a refusal is shown, not retried.  No session: the app's login, then back here.
'use strict';

(function () {
  var main = document.getElementById('embed');
  if (!main) return;
  var origin = main.getAttribute('data-origin');
  var app = main.getAttribute('data-app');
  var frame = document.getElementById('embed-frame');
  var status = document.getElementById('embed-status');
  var pending = {};
  var seq = 0;
  var started = false;
  var timer = null;

  function show(text, bad) {
    status.textContent = text;
    status.className = bad ? 'alert error' : 'embed-ok';
  }

  // The user's token set; a lost session sends the browser to the app's login.
  function credentials() {
    return fetch('/api/v1/session/assistant-credentials', {
      method: 'POST', credentials: 'same-origin', headers: { 'X-Requested-With': 'fetch' }
    }).then(function (r) {
      if (r.status === 401) {
        window.location.assign('/login/' + encodeURIComponent(app));
        throw new Error('not signed in');
      }
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error_description || j.error || 'HTTP ' + r.status);
        return j;
      });
    });
  }

  // Post a request to the Assistant; resolves with its answer, rejects with its error.
  function request(action, payload) {
    return new Promise(function (resolve, reject) {
      var id = 'fg-' + (++seq);
      pending[id] = { resolve: resolve, reject: reject };
      frame.contentWindow.postMessage({ type: 'CORTI_EMBEDDED', version: 'v1', action: action,
        payload: payload, requestId: id }, origin);
      setTimeout(function () {
        if (!pending[id]) return;
        delete pending[id];
        reject(new Error('the Assistant did not answer'));
      }, 15000);
    });
  }

  function handoff() {
    clearTimeout(timer);
    credentials().then(function (set) {
      return request('auth', set).then(function (answer) {
        var user = answer.payload || {};
        main.setAttribute('data-user-id', user.id || '');
        main.setAttribute('data-user-email', user.email || '');
        main.setAttribute('data-handoffs', String(seq));
        show('Signed in to the Corti Assistant as ' + (user.email || user.id) + '.', false);
        timer = setTimeout(handoff, Math.max(2, set.expires_in / 2) * 1000);
      });
    }).catch(function (err) {
      if (err.message === 'not signed in') return;
      show('The Corti Assistant refused the sign-in: ' + err.message, true);
    });
  }

  window.addEventListener('message', function (ev) {
    var d = ev.data;
    if (ev.source !== frame.contentWindow || ev.origin !== origin || !d || typeof d !== 'object')
      return;
    if (d.type === 'CORTI_EMBEDDED_EVENT' && d.event === 'embedded.ready' && !started) {
      started = true;
      handoff();
    } else if (d.type === 'CORTI_EMBEDDED_RESPONSE' && pending[d.requestId]) {
      var p = pending[d.requestId];
      delete pending[d.requestId];
      if (d.success) p.resolve(d);
      else p.reject(new Error((d.errorCode || 'ERROR') + (d.error ? ' (' + d.error + ')' : '')));
    }
  });
})();
