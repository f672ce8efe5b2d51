/* The page's strings: the hub renders each page with the strings its script asks for, from the message
   catalog of the page's language, in <script type="application/json" id="bob-strings"> (hub/pages.py).
   _("English text, %(name)s", { name: value }) gives the text in the page's language. */
window.BobI18n = (function () {
  "use strict";
  var element = document.getElementById("bob-strings");
  var strings = element ? JSON.parse(element.textContent) : {};
  function gettext(message, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, message) ? strings[message] : message;
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  return Object.freeze({ gettext: gettext });
})();
