# LpVersion.cmake — stamps the git commit into the libraries (lp_get_build_info) so a result can
# always be traced to the code that produced it.
find_package(Git QUIET)
set(LP_GIT_HASH "unknown")
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
                  WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                  OUTPUT_VARIABLE _lp_hash OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _lp_rc)
  if(_lp_rc EQUAL 0 AND _lp_hash)
    set(LP_GIT_HASH "${_lp_hash}")
  endif()
endif()
