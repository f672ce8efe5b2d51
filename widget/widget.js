/* Bob widget — placeholder until the full widget lands. */
(function () {
  "use strict";
  var config = __BOB_CONFIG__;
  window.BobWidget = { config: config };
})();
