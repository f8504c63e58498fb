# LpWarnings.cmake — one warning policy for all native code: everything on, warnings are errors,
# so a new warning fails the build (and CI) instead of scrolling by.
function(lp_strict_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:/W4 /WX /permissive->)
  else()
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wno-unused-parameter -Werror>)
  endif()
endfunction()
