# Injected into interface builds with -DCMAKE_PROJECT_INCLUDE=<this file> by scripts/build_interfaces.sh.
#
# Why: the ROS 2 wheels on PyPI export CMake targets whose INTERFACE_INCLUDE_DIRECTORIES still name
# the wheel build machine's interpreter (/opt/python/cpXY-cpXY/include/pythonX.Y and its NumPy
# include dir). CMake refuses imported targets that name non-existent include paths, so every
# message package that depends on std_msgs & co. fails to generate. At the end of configuration we
# rewrite those paths to this interpreter's Python and NumPy include dirs. Nothing in the venv is
# modified, and on a robot with apt-installed ROS this file is never used.
#
# Inputs (cache variables set by the build script):
#   TEXTREGION_PYTHON_INCLUDE_DIR  this interpreter's Python.h directory
#   TEXTREGION_NUMPY_INCLUDE_DIR   numpy.get_include() of this interpreter

function(_textregion_rewrite_wheel_include_dirs)
  get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      if(NOT EXISTS "${_dir}" AND _dir MATCHES "numpy/.*include$")
        list(APPEND _fixed "${TEXTREGION_NUMPY_INCLUDE_DIR}")
        set(_changed TRUE)
      elseif(NOT EXISTS "${_dir}" AND _dir MATCHES "/include/python3\\.[0-9]+$")
        list(APPEND _fixed "${TEXTREGION_PYTHON_INCLUDE_DIR}")
        set(_changed TRUE)
      else()
        list(APPEND _fixed "${_dir}")
      endif()
    endforeach()
    if(_changed)
      list(REMOVE_DUPLICATES _fixed)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _textregion_rewrite_wheel_include_dirs)
