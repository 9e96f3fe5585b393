# spindle_add_module(NAME SOURCES...) builds a spindle handler module: a
# shared object named NAME.so, hidden visibility by default (only the
# SP_MODULE descriptor and what you mark SP_EXPORT is visible), against
# the spindle headers.  Used in the spindle tree and by installed SDKs.
function(spindle_add_module name)
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                        C_STANDARD 11)
  if(TARGET spindle::sdk)
    target_link_libraries(${name} PRIVATE spindle::sdk)
  else()
    target_include_directories(${name} PRIVATE ${SPINDLE_INCLUDE_DIR})
  endif()
endfunction()
