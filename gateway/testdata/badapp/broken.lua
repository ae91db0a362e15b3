local x = 1
local function handler()
  return x +
end
