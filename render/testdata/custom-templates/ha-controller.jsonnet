// Replaces the embedded ha-controller: this cluster runs its own.
function(input) []
