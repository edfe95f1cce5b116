/* Client pages: say what we know when a payment gets no answer, and wire Braintree's Drop-in when live. */
(function () {
  "use strict";
  function unconfirmed(evt) {
    var form = document.getElementById("fund-form");
    var box = document.getElementById("fund-error");
    if (!form || !box || !form.contains(evt.target)) { return false; }
    box.className = "flash error";
    box.innerHTML = "";
    var p = document.createElement("p");
    p.textContent = "We could not confirm your payment yet. Do not pay again: you have not been charged twice. ";
    var a = document.createElement("a");
    a.href = form.dataset.statusUrl;
    a.textContent = "Check the payment status";
    p.appendChild(a);
    box.appendChild(p);
    return true;  // htmx re-enables the hx-disable'd button itself when the request ends
  }
  // No answer at all (timeout, network down): htmx 4 fires htmx:error on the form.
  document.addEventListener("htmx:error", unconfirmed);
  // htmx 4 swaps every status but 204/304. A 5xx that is not the app's own notice
  // (those carry HX-Retarget) is a proxy's page: keep the widget, say what we know.
  document.addEventListener("htmx:response:error", function (evt) {
    var ctx = evt.detail && evt.detail.ctx;
    if (!ctx || !ctx.response || ctx.response.status < 500 || (ctx.hx && ctx.hx.retarget)) { return; }
    if (unconfirmed(evt)) { ctx.swap = "none"; }
  });

  // Drop-in could not load (its script, or Braintree's servers, out of reach): the pay button stays
  // disabled, and the client is told why and what to do.
  function dropinFailed(el) {
    // Said where the card form would be, beside the disabled button.
    var box = document.getElementById("dropin-status");
    if (box) {
      box.className = "flash error";
      box.setAttribute("role", "alert");
      box.textContent = "Card and PayPal payments could not load, so you cannot pay yet. Nothing was charged. " +
        "Check your internet connection and reload this page; if it still fails, try again in a few minutes.";
    }
    var button = el.closest("form").querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
  }

  function setupDropin() {
    var el = document.getElementById("dropin");
    if (!el || el.dataset.ready) { return; }
    el.dataset.ready = "1";
    if (!window.braintree || !window.braintree.dropin) { dropinFailed(el); return; }
    var form = el.closest("form");
    var nonce = form.querySelector("input[name=payment_method_nonce]");
    // PayPal's checkout needs the amount being paid: the chosen radio, or the one hidden
    // choice when a single milestone is left to fund.
    var chosen = function () {
      var r = form.querySelector("input[name=choice]:checked") ||
              form.querySelector("input[type=hidden][name=choice]");
      return r && r.dataset.amount ? r.dataset.amount : null;
    };
    braintree.dropin.create({
      authorization: el.dataset.clientToken, container: el,
      paypal: { flow: "checkout", amount: chosen(), currency: el.dataset.currency }
    }, function (err, instance) {
      if (err) { dropinFailed(el); return; }
      var loading = document.getElementById("dropin-status");
      if (loading) { loading.remove(); }
      form.querySelector("button[type=submit]").disabled = false;
      form.addEventListener("change", function (e) {
        if (e.target.name === "choice" && chosen()) { instance.updateConfiguration("paypal", "amount", chosen()); }
      });
      // Get the nonce first, then let htmx submit the form.
      form.addEventListener("submit", function (e) {
        if (nonce.value) { return; }
        e.preventDefault();
        e.stopImmediatePropagation();
        instance.requestPaymentMethod(function (error, payload) {
          if (error) { return; }
          nonce.value = payload.nonce;
          form.requestSubmit();
        });
      }, true);
    });
  }
  document.addEventListener("DOMContentLoaded", setupDropin);
  document.addEventListener("htmx:after:swap", setupDropin);
})();
