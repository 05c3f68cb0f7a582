-- wrk script for bench/chaos: each request goes to the next route in turn (every plugin kind under load).
local paths = {"/js/load", "/cpp/load", "/gh1/load", "/plain/load"}
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
