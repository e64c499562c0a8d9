// city-wide layers from the app's own vector tiles (Leaflet.VectorGrid, vendored)
(function () {
  "use strict";
  // Leaflet 1.9 dropped DomEvent.fakeStop, which VectorGrid 1.3's canvas renderer calls
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = L.DomEvent.stopPropagation; }
  var el = document.getElementById("tile-map");
  var city = el.dataset.city;
  var kinds = JSON.parse(el.dataset.kinds);
  var styles = JSON.parse(el.dataset.styles);
  var b = JSON.parse(el.dataset.bounds);
  var map = L.map(el, { preferCanvas: true });
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  if (el.dataset.baseUrl) {
    L.tileLayer(el.dataset.baseUrl, { attribution: el.dataset.baseAttribution, maxZoom: 22 }).addTo(map);
  }
  var overlays = {};
  // distinct features drawn per kind, across the loaded tiles (a feature may span tiles)
  function countFeatures(kind) {
    var ids = {};
    var tiles = window.cotrenchTiles.layers[kind]._vectorTiles || {};
    Object.keys(tiles).forEach(function (t) {
      Object.keys(tiles[t]._features || {}).forEach(function (id) { ids[id] = true; });
    });
    return Object.keys(ids).length;
  }
  window.cotrenchTiles = { map: map, layers: {}, loaded: {}, count: countFeatures };
  kinds.forEach(function (k) {
    var kind = k[0], label = k[1];
    var style = styles[kind];
    var vectorStyles = {};
    vectorStyles[kind] = function (props) {
      var colour = style.by_utility && props.utility ? (style.by_utility[props.utility] || style.color) : style.color;
      return { color: colour, weight: style.weight, fill: !!style.fill, fillColor: style.fill || colour,
               fillOpacity: 0.4, radius: 3 };
    };
    var layer = L.vectorGrid.protobuf("/tiles/" + encodeURIComponent(city) + "/" + kind + "/{z}/{x}/{y}.pbf", {
      rendererFactory: L.canvas.tile,
      vectorTileLayerStyles: vectorStyles,
      interactive: true,
      maxNativeZoom: 22,
      getFeatureId: function (f) { return f.id; }
    });
    layer.on("load", function () { window.cotrenchTiles.loaded[kind] = true; });
    layer.on("click", function (ev) {
      var p = ev.layer.properties || {};
      var rows = Object.keys(p).map(function (k) {
        var td = document.createElement("div");
        td.textContent = k + ": " + p[k];
        return td.outerHTML;
      }).join("");
      L.popup().setLatLng(ev.latlng).setContent(rows).openOn(map);
    });
    layer.addTo(map);
    overlays[label] = layer;
    window.cotrenchTiles.layers[kind] = layer;
  });
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  L.control.scale().addTo(map);
})();
